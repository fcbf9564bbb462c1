package places

// StatusError labels a search that ended with an error instead of a
// response (the caller's ctx ended, the provider was closed). It is not a
// classic status: the client is told UNKNOWN_ERROR.
const StatusError = "ERROR"

// Statuses are the labels searches are counted under, in index order: the
// classic statuses, then StatusError. Counters index arrays by StatusIndex.
var Statuses = [NumStatuses]string{
	StatusOK, StatusZeroResults, StatusOverQueryLimit,
	StatusRequestDenied, StatusInvalidRequest, StatusUnknownError,
	StatusError,
}

// NumStatuses is the number of Statuses.
const NumStatuses = 7

// unknownIndex is UNKNOWN_ERROR's index.
const unknownIndex = 5

// StatusIndex is s's index in Statuses. A status no provider should
// report counts as UNKNOWN_ERROR, which is what a client is told for it.
func StatusIndex(s string) int {
	for i, n := range Statuses {
		if n == s {
			return i
		}
	}
	return unknownIndex
}

// ResponseStatus is the status a client sees for r: its own, or OK /
// ZERO_RESULTS by its results when a provider left it empty.
func ResponseStatus(r Response) string {
	switch {
	case r.Status != "":
		return r.Status
	case len(r.Results) == 0:
		return StatusZeroResults
	}
	return StatusOK
}
