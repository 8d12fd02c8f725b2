// Package threat is the Analyze stage of the PSA method as code: a threat
// model and security analysis (TMSA) kept as a YAML file, loaded with the
// position of every value, checked for coverage and consistency, scored with
// CVSS 3.1, and rendered as Markdown, HTML, JSON and SARIF reports and as
// advice on which components belong on the Secure side.
//
// A model file is hostile input (trust boundary 5: files given to the CLI):
// the loader bounds its size, refuses anchors and aliases, unknown fields and
// wrong types, and reports every problem with file:line:column.
//
// The package must never touch the network, execute anything named in a
// model, read files other than the model it is given, or depend on any other
// Rampart package: later stages (certify, cli) depend on it, not the reverse.
package threat
