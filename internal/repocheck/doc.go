// Package repocheck holds repository-wide hygiene tests: every package has a
// package comment, the documents README.md promises exist, and files that
// may hold secrets are created only through internal/secfile. It has no code
// of its own and must never be imported.
package repocheck
