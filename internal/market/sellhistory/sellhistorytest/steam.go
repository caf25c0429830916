// Package sellhistorytest reads the Steam Community Market price histories that the sell-history tests
// (and the chart tests) use as fixtures.
package sellhistorytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/skinflip/dmarket-monitor/internal/market/sellhistory"
)

// ErrBadSteamHistory reports a Steam price-history body that cannot be read.
var ErrBadSteamHistory = errors.New("bad steam price history")

// ParseSteamHistory reads a Steam Community Market price-history series: a JSON array of
// [date, average price in dollars, amount] points where date looks like "Apr 22 2022 18: +0"
// (2022-04-22 18:00 at UTC offset +0 hours). The amount may be a string or a number.
func ParseSteamHistory(r io.Reader) ([]sellhistory.Point, error) {
	var raw [][]json.RawMessage
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: decode: %w", ErrBadSteamHistory, err)
	}
	out := make([]sellhistory.Point, 0, len(raw))
	for i, row := range raw {
		if len(row) != 3 {
			return nil, fmt.Errorf("%w: point %d has %d elements", ErrBadSteamHistory, i, len(row))
		}
		var date string
		if err := json.Unmarshal(row[0], &date); err != nil {
			return nil, fmt.Errorf("%w: point %d date: %w", ErrBadSteamHistory, i, err)
		}
		hour, err := parseSteamDate(date)
		if err != nil {
			return nil, fmt.Errorf("%w: point %d: %w", ErrBadSteamHistory, i, err)
		}
		var price float64
		if err := json.Unmarshal(row[1], &price); err != nil {
			return nil, fmt.Errorf("%w: point %d price: %w", ErrBadSteamHistory, i, err)
		}
		amount := strings.Trim(string(row[2]), `"`)
		count, err := strconv.Atoi(amount)
		if err != nil || count < 0 {
			return nil, fmt.Errorf("%w: point %d amount %q", ErrBadSteamHistory, i, amount)
		}
		out = append(out, sellhistory.Point{Hour: hour, Mean: price, Count: count})
	}
	return out, nil
}

func parseSteamDate(s string) (time.Time, error) {
	head, offset, ok := strings.Cut(s, ": ")
	if !ok {
		return time.Time{}, fmt.Errorf("date %q: missing hour separator", s)
	}
	t, err := time.ParseInLocation("Jan 02 2006 15", head, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: %w", s, err)
	}
	off, err := strconv.Atoi(offset)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: offset: %w", s, err)
	}
	return t.Add(-time.Duration(off) * time.Hour), nil
}

// LoadSteamHistory reads the Steam price-history file at path (see ParseSteamHistory) and fails the test
// when it cannot be read or holds no point.
func LoadSteamHistory(t testing.TB, path string) []sellhistory.Point {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	pts, err := ParseSteamHistory(f)
	require.NoError(t, err)
	require.NotEmpty(t, pts)
	return pts
}
