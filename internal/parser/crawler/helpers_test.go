package crawler

import "encoding/json"

// PageItemIDs returns the item ids of a listings page payload in page order (an empty, not nil, slice
// for a page without objects).
func PageItemIDs(payload []byte) ([]string, error) {
	var page struct {
		Objects []struct {
			ItemID string `json:"itemId"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(payload, &page); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(page.Objects))
	for _, o := range page.Objects {
		ids = append(ids, o.ItemID)
	}
	return ids, nil
}

// distinctTitles returns titles without repeats, in order of first appearance.
func distinctTitles(titles []string) []string {
	seen := make(map[string]bool, len(titles))
	out := make([]string, 0, len(titles))
	for _, t := range titles {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}
