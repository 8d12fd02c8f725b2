package sim

// JoinFleet is the device side of a fleet another process serves, described
// by j: devices made with it enroll at j.EnrollURL and connect to
// j.MQTTAddr. Its Server is nil (releases and endorsements go through the
// admin API) and so is its Release key unless the caller sets it.
func JoinFleet(j *JoinFile) (*Fleet, error) { return joinFleet(j) }
