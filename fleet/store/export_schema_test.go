package store

// CompatibleFrom exposes compatibleFrom to the external tests.
var CompatibleFrom = compatibleFrom
