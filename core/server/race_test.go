//go:build race

package server

// raceEnabled: the race detector slows each request some tenfold, so the
// longest loops of the tests run shorter.
const raceEnabled = true
