// Package ps is the SPE's Protected Storage service (PSA PS 1.0, SID 0x60):
// ITS's calls for data kept outside the SPE's isolated area, so every object
// is sealed with AES-256-GCM under a key derived from the hardware unique
// key for its (client, uid), binding client, uid, flags and version, and
// every object's version is recorded in ITS so that an older copy of a
// backing file (a replay) is refused. NO_CONFIDENTIALITY keeps the data in
// clear but still authenticated; NO_REPLAY_PROTECTION skips the version
// record for objects that do not need it.
//
// It must never return data whose tag does not verify, never accept a file
// older than the version ITS records, and never use one client's key for
// another client's objects.
package ps
