package sim

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/privacy/privacytest"
)

// CryptoFloor times the cryptography of one round of an NPS contract of
// cells cells among members members with a decryption threshold of
// threshold, at the production parameters, with the node's encoding: one
// vector an input — each cell's count and whether the participant feeds
// it (2 components a cell), then its padded components (3 a cell for
// NPS). See privacytest.RoundFloor.
func CryptoFloor(members, threshold, cells int) (privacytest.Floor, error) {
	const width = 3 // nps: count, promoters, detractors
	return privacytest.RoundFloor(privacy.DefaultParams(), 1, members, threshold, (2+width)*cells)
}

// PeakRSS is the process's peak resident set size (VmHWM), in bytes.
func PeakRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("sim: peak RSS: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("sim: peak RSS: %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("sim: peak RSS: no VmHWM in /proc/self/status")
}
