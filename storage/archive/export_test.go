package archive

// The two paths of ParseEventFields, for the external tests that compare them.
var (
	ParseEventFieldsFast = parseEventFieldsFast
	ParseEventFieldsSlow = parseEventFieldsSlow
)
