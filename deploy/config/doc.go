// Package config holds vigil's role configurations (agent, gateway, all-in-one) and serves them
// to the collector as the confmap scheme "embedded:", so the YAML files in this folder are the one
// source of truth for both the files a platform engineer copies and the defaults vigil runs with
// when started without --config.
package config
