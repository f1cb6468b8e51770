//go:build !race

package k8sauditreceiver

const raceEnabled = false
