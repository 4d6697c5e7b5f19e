package client

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// WriteResultsJSON writes a result as `cxnet results --json` prints it.
func WriteResultsJSON(w io.Writer, res *Results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// WriteResultsCSV writes a result as `cxnet results --csv` prints it (and
// the dashboard downloads it): one row per cell, the group's dimensions
// (sorted), then the network's count and value, suppression, and this
// node's own count and value. A suppressed cell's count and value are
// empty, never zero.
func WriteResultsCSV(w io.Writer, res *Results) error {
	var dims []string
	if len(res.Cells) > 0 {
		for k := range res.Cells[0].Group {
			dims = append(dims, k)
		}
		slices.Sort(dims)
	}
	cw := csv.NewWriter(w)
	cw.Write(append(slices.Clone(dims), "count", "value", "suppressed", "own_count", "own_value"))
	for _, cell := range res.Cells {
		row := make([]string, 0, len(dims)+5)
		for _, d := range dims {
			row = append(row, cell.Group[d])
		}
		count, value := "", ""
		if !cell.Suppressed && cell.Count != nil {
			count, value = strconv.FormatInt(*cell.Count, 10), csvValue(cell.Value)
		}
		ownCount, ownValue := "", ""
		if cell.Local != nil {
			ownCount, ownValue = strconv.FormatInt(cell.Local.Count, 10), csvValue(cell.Local.Value)
		}
		cw.Write(append(row, count, value, strconv.FormatBool(cell.Suppressed), ownCount, ownValue))
	}
	cw.Flush()
	return cw.Error()
}

// csvValue renders a value for CSV: a number at full precision, a
// histogram's counts as FormatValue does.
func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return FormatValue(v)
}

// FormatValue renders a cell's value for a table: a number to 4 decimals
// without trailing zeros, a histogram's counts in brackets, "-" for none.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case float64:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", x), "0"), ".")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = FormatValue(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	default:
		return fmt.Sprint(x)
	}
}
