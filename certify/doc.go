// Package certify is the Certify stage of the PSA method: a PSA Certified
// Level 1 style self-assessment built from a project's own evidence. It reads
// the project file (rampart.yaml), which names the threat model, the zone
// configuration, the image-signing configuration, the device configuration
// and the SPE configuration, inspects each of them (key types, security
// counters, storage encryption, attestation, debug and lifecycle, zone
// isolation, the threat model's traced requirements) and answers each
// requirement R1.1 to R7.1 with a status: met, partly, not met or not
// applicable.
//
// It reports only what it finds: a file that is named but absent is "not
// found", never assumed. It must never modify the files it inspects, follow
// references outside what the project file names, or claim a requirement met
// on the strength of a statement alone (a threat-model "mechanism" evidence
// is shown as a claim, not as proof).
package certify
