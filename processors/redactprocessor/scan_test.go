package redactprocessor

import (
	"strings"
	"testing"
)

// wordInAnyCase is the plain reference of hasObjectWord: every position, every word.
func wordInAnyCase(s string) bool {
	for _, w := range objectWords {
		for i := 0; i+len(w) <= len(s); i++ {
			if strings.EqualFold(s[i:i+len(w)], w) {
				return true
			}
		}
	}
	return false
}

var objectWordSeeds = []string{
	"", "j", "J", "requestobject", "requestObject", "REQUESTOBJECT", "ResponseObJect", "responseobjec",
	"esponseobject", `{"objectRef":{"resource":"secrets"},"requestObject":{}}`,
	`{"objectRef":{"resource":"secrets"},"verb":"get"}`, `{"reQuestobJecT":1}`, `{"x":"jjjj","y":"requestobj"}`,
	"responseobjectj", "jresponseobject", "requestobjectresponseobject", `"requestobject\u006a"`,
}

func TestObjectWordScanMatchesTheReference(t *testing.T) {
	for _, s := range objectWordSeeds {
		if got, want := hasObjectWord(s), wordInAnyCase(s); got != want {
			t.Errorf("hasObjectWord(%q) = %v, reference %v", s, got, want)
		}
	}
}

func FuzzObjectWordScan(f *testing.F) {
	for _, s := range objectWordSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := hasObjectWord(s), wordInAnyCase(s); got != want {
			t.Fatalf("hasObjectWord(%q) = %v, reference %v", s, got, want)
		}
	})
}
