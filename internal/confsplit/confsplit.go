// Package confsplit decodes the configuration of a component that embeds one of the collector's
// settings structs (confighttp.ServerConfig, confighttp.ClientConfig) beside keys of its own.
// Embedding such a struct makes the whole Config a confmap.Unmarshaler that decodes the embedded
// struct's keys alone and drops the component's own; Unmarshal gives each part its keys, and
// decodes the component's own strictly (an unknown key is an error).
package confsplit

import (
	"reflect"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// Unmarshal decodes conf's keys of E (its top-level mapstructure keys, through squashed structs)
// into embedded, with E's own unmarshaller, and every other key into own.
func Unmarshal[E any](conf *confmap.Conf, embedded *E, own any) error {
	keys := Keys[E]()
	mine, theirs := map[string]any{}, map[string]any{}
	for k, v := range conf.ToStringMap() {
		if keys[k] {
			theirs[k] = v
		} else {
			mine[k] = v
		}
	}
	if err := confmap.NewFromStringMap(theirs).Unmarshal(embedded); err != nil {
		return err
	}
	return confmap.NewFromStringMap(mine).Unmarshal(own)
}

// Keys are the top-level YAML keys of the struct T.
func Keys[T any]() map[string]bool {
	keys := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			switch {
			case strings.Contains(opts, "squash") && f.Type.Kind() == reflect.Struct:
				walk(f.Type)
			case name != "" && name != "-":
				keys[name] = true
			}
		}
	}
	walk(reflect.TypeFor[T]())
	return keys
}
