package threat

// PSARequirement is one requirement of the PSA Certified Level 1
// questionnaire, version 2.1.
type PSARequirement struct {
	ID      string `json:"id"`
	Summary string `json:"summary"`
}

// PSALevel1 lists the requirements R1.1 to R7.1 of the PSA Certified Level 1
// questionnaire version 2.1 (JSADEN001), with the short summaries quoted in
// Trusted Firmware's trusted-services documentation ("PSA Certification
// Requirements", docs/standards/psa_certification.rst, a table "based on PSA
// Certified Level 1 Questionnaire Version 2.1"). The questionnaire's full
// wording is not reproduced; see docs/certify.md.
var PSALevel1 = []PSARequirement{
	{"R1.1", "System software and application software update verification using an immutable root of trust"},
	{"R1.2", "System software and application software update anti-rollback protection"},
	{"R2.1", "Protected device ID"},
	{"R2.2", "Secure storage"},
	{"R2.3", "Crypto best practices (a true random number generator for random numbers and key generation)"},
	{"R3.1", "Remote server authentication"},
	{"R3.2", "Communication encryption"},
	{"R3.3", "TLS authentication support"},
	{"R4.1", "Attestation token for the device's lifecycle state"},
	{"R4.2", "Unused functionality disabled"},
	{"R4.3", "Secure logging"},
	{"R4.4", "Restricted log file access"},
	{"R4.5", "Data on external interfaces checked defensively"},
	{"R4.6", "Principle of least privilege"},
	{"R5.1", "Passwords not resettable (to a universal default)"},
	{"R5.2", "Password best practices"},
	{"R5.3", "User authentication using critical security parameters"},
	{"R6.1", "Externally applied configuration signed"},
	{"R7.1", "Persistent storage of user data supports destructive erase"},
}

// PSARequirementByID returns the Level 1 requirement with id, if any.
func PSARequirementByID(id string) (PSARequirement, bool) {
	for _, r := range PSALevel1 {
		if r.ID == id {
			return r, true
		}
	}
	return PSARequirement{}, false
}
