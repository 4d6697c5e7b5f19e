package cms

// stateCodes maps the state names of CMS's state table to USPS codes: the
// 50 states, DC and the five inhabited territories CMS lists.
var stateCodes = map[string]string{
	"Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR",
	"California": "CA", "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE",
	"District of Columbia": "DC", "Florida": "FL", "Georgia": "GA", "Hawaii": "HI",
	"Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
	"Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME",
	"Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
	"Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE",
	"Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM",
	"New York": "NY", "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH",
	"Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI",
	"South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX",
	"Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
	"West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",

	"American Samoa": "AS",
	"Commonwealth of the Northern Marianas Islands": "MP", // CMS's spelling
	"Guam":           "GU",
	"Puerto Rico":    "PR",
	"Virgin Islands": "VI",
}

// StateCode returns the two-letter code of a state name as CMS spells it
// ("District of Columbia" → "DC").
func StateCode(name string) (string, bool) {
	c, ok := stateCodes[name]
	return c, ok
}
