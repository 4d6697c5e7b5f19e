package kpi

// Opened is what the decryptors of a KPI round opened, as each of them
// attests it by signature: which cells reach the cohort floor, their
// network-wide counts, and the padded sums of their components.
//
// Each participant adds a secret uniform 64-bit pad to every component of
// its input before encrypting it, so an opened sum is the network's sum
// plus the participants' pads, modulo 2^64: uniformly random, it says
// nothing until every participant reveals its pads. A participant
// reveals them only for the cells in Keep, so a cell under the floor
// never opens.
type Opened struct {
	// Keep lists the cells (positions in the contract's cell layout)
	// whose count reaches the floor, fed by enough organisations,
	// ascending.
	Keep []int `json:"keep"`
	// Few lists the cells whose count reaches the floor but that too few
	// organisations feed (one organisation's cell, or two whose each
	// would learn the other's), ascending: suppressed too.
	Few []int `json:"few,omitempty"`
	// Counts are the kept cells' opened counts, in Keep order. A release
	// to readers withholds them (nil) and gives their digest instead, the
	// counts themselves sealed to the readers.
	Counts       []int64 `json:"counts,omitempty"`
	CountsDigest string  `json:"counts_digest,omitempty"`
	// Sums are the kept cells' components' padded sums modulo 2^64, in
	// Keep order, each cell's components in order: 8 bytes each,
	// little-endian.
	Sums []byte `json:"sums"`
}
