//go:build race

package k8sauditreceiver

// raceEnabled: tests built with -race, which runs them several times slower, scale down their
// largest inputs.
const raceEnabled = true
