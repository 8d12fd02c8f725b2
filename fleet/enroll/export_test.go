package enroll

// Sizes of the state a Service keeps per client, for the tests.
func (s *Service) UsedNonces() int   { return s.nonces.used.len() }
func (s *Service) NonceSources() int { return s.nonceLimit.Len() }
