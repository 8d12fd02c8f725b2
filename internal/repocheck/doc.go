// Package repocheck holds repository-wide hygiene tests: every package has a
// package comment, and the documents README.md promises exist. It has no code
// of its own and must never be imported.
package repocheck
