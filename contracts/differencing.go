package contracts

// The participant rule: a release over two inputs is one organisation's
// cells to the other, who subtracts its own (INTERFACE.md, "Rules every
// node enforces on releases"), so every contract needs at least
// MinReleaseInputs participants and a min_participants of at least that,
// checked when it is proposed, not when it is parsed: `contract preview`
// of a local file works whatever its participants.

import "fmt"

// MinReleaseInputs is the fewest organisations whose inputs a release may
// sum, and so the fewest participants a contract may have.
const MinReleaseInputs = 3

// participantRule says why contract c may not be proposed, "" when it
// may: it needs MinReleaseInputs participants and a MinInputs of at least
// that, whether exact or not. (MinInputs is at most the number of
// participants, so this also gives an exact contract at least
// MinReleaseInputs participants.)
func participantRule(c *Contract) string {
	n := len(c.Participants)
	switch {
	case n < MinReleaseInputs:
		return fmt.Sprintf("contract %s has %d participant%s; a contract needs at least %d, so that no release shows one organisation's cells to another (who subtracts its own): add participants",
			c.ID, n, plural(n), MinReleaseInputs)
	case MinInputs(c) < MinReleaseInputs:
		return fmt.Sprintf("contract %s: min_participants %d would let a round release the inputs of %d organisation%s; at least %d are needed, so that no release shows one organisation's cells to another (who subtracts its own): set min_participants to %d or more, or leave it out (the default is all %d participants)",
			c.ID, c.MinParticipants, MinInputs(c), plural(MinInputs(c)), MinReleaseInputs, MinReleaseInputs, n)
	}
	return ""
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
