package rules

import (
	"embed"
	"io/fs"
)

//go:embed *.yaml
var files embed.FS

// FS returns the rule packs, one YAML file per pack at the root.
func FS() fs.FS { return files }
