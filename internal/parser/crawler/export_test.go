package crawler

// Plan returns a copy of the current ranges of game.
func (c *Crawler) Plan(game string) []Range {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Range(nil), c.plan[game]...)
}
