// Package doccheck holds the repository's documentation checks (its tests): every relative link in
// a Markdown file names a file or directory that exists, and every component folder has the
// metadata.yaml and generated files of mdatagen.
package doccheck
