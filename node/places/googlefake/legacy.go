package googlefake

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// NearbySearchPath is the legacy Nearby Search endpoint.
const NearbySearchPath = "/maps/api/place/nearbysearch/json"

// Legacy is a fake legacy Places API server answering
// GET /maps/api/place/nearbysearch/json.
type Legacy struct{ *core }

// NewLegacy starts a fake legacy Nearby Search server on a loopback port.
func NewLegacy(opts Options) *Legacy {
	l := &Legacy{}
	l.core = newCore(opts, l.handle)
	return l
}

// legacyPageSize is how many results one legacy page holds.
const legacyPageSize = 20

func (l *Legacy) handle(w http.ResponseWriter, r *http.Request, _ []byte, o Outcome) {
	switch o {
	case ZeroResults:
		legacyStatus(w, "ZERO_RESULTS", "")
		return
	case OverQueryLimit:
		legacyStatus(w, "OVER_QUERY_LIMIT", "You have exceeded your rate-limit for this API.")
		return
	case RequestDenied:
		legacyStatus(w, "REQUEST_DENIED", "This API project is not authorized to use this API.")
		return
	case InvalidRequest:
		legacyStatus(w, "INVALID_REQUEST", "")
		return
	case UnknownError:
		legacyStatus(w, "UNKNOWN_ERROR", "")
		return
	case Unavailable:
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("<!DOCTYPE html>\n<html lang=en><title>Error 503 (Service Unavailable)!!1</title><p><b>503.</b> <ins>That’s an error.</ins></html>\n"))
		return
	case Garbage:
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"html_attributions": [], "results": [{"place_id": "ChIJtrunc`))
		return
	}
	l.serve(w, r)
}

// serve validates the call as Google does and answers with places.
func (l *Legacy) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != NearbySearchPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	switch key := q.Get("key"); {
	case key == "":
		legacyStatus(w, "REQUEST_DENIED", "You must use an API key to authenticate each request to Google Maps Platform APIs. For additional information, please refer to http://g.co/dev/maps-no-account")
		return
	case key != l.opts.APIKey:
		legacyStatus(w, "REQUEST_DENIED", "The provided API key is invalid.")
		return
	}
	lat, lng, ok := parseLocation(q.Get("location"))
	if !ok {
		legacyStatus(w, "INVALID_REQUEST", "Invalid request. Invalid 'location' parameter.")
		return
	}
	radius, err := strconv.ParseFloat(q.Get("radius"), 64)
	if err != nil || radius <= 0 || radius > 50000 {
		legacyStatus(w, "INVALID_REQUEST", "Invalid request. Invalid 'radius' parameter.")
		return
	}
	found := search(l.opts.Places, l.opts.Seed, lat, lng, radius, legacyPageSize)
	if len(found) == 0 {
		legacyStatus(w, "ZERO_RESULTS", "")
		return
	}
	results := make([]map[string]any, 0, len(found))
	for _, p := range found {
		results = append(results, legacyPlaceJSON(p))
	}
	body := map[string]any{"html_attributions": []string{}, "results": results, "status": "OK"}
	if len(found) == legacyPageSize {
		body["next_page_token"] = base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("page2:%v,%v,%v", lat, lng, radius)))
	}
	writeJSON(w, http.StatusOK, body)
}

// parseLocation reads "lat,lng" as Google does: plain decimals.
func parseLocation(s string) (lat, lng float64, ok bool) {
	a, b, found := strings.Cut(s, ",")
	if !found {
		return 0, 0, false
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lng, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 != nil || err2 != nil || lat < -90 || lat > 90 || lng < -180 || lng > 180 {
		return 0, 0, false
	}
	return lat, lng, true
}

// legacyStatus writes a legacy response carrying only a status.
func legacyStatus(w http.ResponseWriter, status, msg string) {
	body := map[string]any{"html_attributions": []string{}, "results": []any{}, "status": status}
	if msg != "" {
		body["error_message"] = msg
	}
	writeJSON(w, http.StatusOK, body)
}

// legacyPlaceJSON renders a place as a legacy Nearby Search result, with
// the fields Google sends (photos, plus_code, opening_hours, ...), so that
// a provider passing results through can be checked to keep them all.
func legacyPlaceJSON(p Place) map[string]any {
	swLat, swLng, neLat, neLng := viewport(p)
	global, compound := plusCode(p)
	kind := "generic_business"
	if len(p.Types) > 0 {
		kind = p.Types[0]
	}
	type ll struct {
		Lat float64 `json:"lat"`
		Lng float64 `json:"lng"`
	}
	m := map[string]any{
		"geometry": map[string]any{
			"location": ll{p.Lat, p.Lng},
			"viewport": map[string]ll{"northeast": {neLat, neLng}, "southwest": {swLat, swLng}},
		},
		"icon":                  "https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/" + kind + "-71.png",
		"icon_background_color": "#FF9E67",
		"icon_mask_base_uri":    "https://maps.gstatic.com/mapfiles/place_api/icons/v2/" + kind + "_pinlet",
		"name":                  p.Name,
		"opening_hours":         map[string]bool{"open_now": true},
		"photos": []map[string]any{{
			"height":            3024,
			"width":             4032,
			"html_attributions": []string{`<a href="https://maps.google.com/maps/contrib/100000000000000000000">A Contributor</a>`},
			"photo_reference":   "Aap_uE" + p.ID,
		}},
		"place_id":  p.ID,
		"plus_code": map[string]string{"compound_code": compound, "global_code": global},
		"reference": p.ID,
		"scope":     "GOOGLE",
		"types":     p.Types,
		"vicinity":  p.Address,
	}
	if p.BusinessStatus != "" {
		m["business_status"] = p.BusinessStatus
	}
	if p.Rating > 0 {
		m["rating"] = p.Rating
		m["user_ratings_total"] = p.UserRatingCount
	}
	if p.PriceLevel >= 0 {
		m["price_level"] = p.PriceLevel
	}
	return m
}
