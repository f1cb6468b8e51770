// Package doccheck holds the repository's documentation checks (its tests): every relative link in
// a Markdown file names a file or directory that exists.
package doccheck
