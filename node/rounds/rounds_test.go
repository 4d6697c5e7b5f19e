package rounds

import (
	"strings"
	"testing"
)

// TestNewRefusesAnIncompleteConfig: a config without what the rounds
// call on the node is refused at construction, naming each field.
func TestNewRefusesAnIncompleteConfig(t *testing.T) {
	_, err := New(Config{})
	if err == nil {
		t.Fatal("an empty config accepted")
	}
	for _, want := range []string{"State", "Sign", "Submit", "Sync", "SignRound", "Secrets", "ThresholdKey", "PublicKey", "Components", "Host", "Org"} {
		if !strings.Contains(err.Error(), "rounds: config: "+want+" is required") {
			t.Errorf("config without %s: %v", want, err)
		}
	}
	if !strings.Contains(err.Error(), "Timeout is 0s") {
		t.Errorf("config without a timeout: %v", err)
	}
}
