package pricestore

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/skinflip/dmarket-monitor/internal/market"
)

// scanFloatCurve parses the float curve starting at v[i] ({"buckets":[{"max","price","n"}, …]} or null)
// into *dst (nil for null or no buckets) and returns the index after it.
func scanFloatCurve(v string, i int, dst **market.FloatCurve) (int, error) {
	if strings.HasPrefix(v[i:], "null") {
		return i + len("null"), nil
	}
	if i >= len(v) || v[i] != '{' {
		return 0, fmt.Errorf("%w: float is not an object", errJSON)
	}
	var c market.FloatCurve
	end, err := walkMembers(v, i, func(key string, j int) (int, error) {
		if key != "buckets" {
			return walkValue(v, j)
		}
		return eachElement(v, j, func(k int) (int, error) {
			b, end, err := scanFloatBucket(v, k)
			c.Buckets = append(c.Buckets, b)
			return end, err
		})
	}, nil)
	if err != nil {
		return 0, err
	}
	if len(c.Buckets) > 0 {
		*dst = &c
	}
	return end, nil
}

// scanFloatBucket parses one bucket object of a float curve starting at v[i].
func scanFloatBucket(v string, i int) (market.FloatBucket, int, error) {
	var b market.FloatBucket
	if i >= len(v) || v[i] != '{' {
		return b, 0, fmt.Errorf("%w: float bucket is not an object", errJSON)
	}
	end, err := walkObject(v, i, func(key, raw string) error {
		var err error
		var n int64
		switch key {
		case "max":
			var s string
			if s, err = stringValue(raw); err == nil {
				if b.MaxFloat, err = strconv.ParseFloat(s, 64); err != nil {
					err = fmt.Errorf("%w: float bucket max %q", errJSON, s)
				}
			}
		case "price":
			n, err = intValue(raw)
			b.Price = market.Cents(n)
		case "n":
			n, err = intValue(raw)
			b.Sales = int(n)
		}
		return err
	})
	return b, end, err
}

// scanPhases parses the phases object starting at v[i] ({"<phase>": {history of the phase}, …} or null)
// into *dst (nil for null or no phase) and returns the index after it.
func scanPhases(v string, i int, dst *map[market.Phase]*market.PhaseState) (int, error) {
	if strings.HasPrefix(v[i:], "null") {
		return i + len("null"), nil
	}
	if i >= len(v) || v[i] != '{' {
		return 0, fmt.Errorf("%w: phases is not an object", errJSON)
	}
	out := map[market.Phase]*market.PhaseState{}
	end, err := walkMembers(v, i, func(key string, j int) (int, error) {
		end, err := walkValue(v, j)
		if err != nil {
			return 0, err
		}
		h, err := decodeHistory(v[j:end])
		if err != nil {
			return 0, fmt.Errorf("phase %q: %w", key, err)
		}
		out[market.Phase(key)] = &market.PhaseState{History: h.resale, Float: h.float}
		return end, nil
	}, nil)
	if err != nil {
		return 0, err
	}
	if len(out) > 0 {
		*dst = out
	}
	return end, nil
}

// eachElement walks the array starting at s[i] == '[', calling fn with each element's start index (fn
// returns the index after the element), and returns the index after the array.
func eachElement(s string, i int, fn func(i int) (int, error)) (int, error) {
	if i >= len(s) || s[i] != '[' {
		return 0, fmt.Errorf("%w: not an array", errJSON)
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == ']' {
		return i + 1, nil
	}
	for {
		end, err := fn(i)
		if err != nil {
			return 0, err
		}
		i = skipWS(s, end)
		if i >= len(s) {
			return 0, fmt.Errorf("%w: unterminated array", errJSON)
		}
		if s[i] == ']' {
			return i + 1, nil
		}
		if s[i] != ',' {
			return 0, fmt.Errorf("%w: expected ',' or ']'", errJSON)
		}
		i = skipWS(s, i+1)
	}
}
