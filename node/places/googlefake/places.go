package googlefake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// SearchNearbyPath is the Places API (New) Nearby Search endpoint.
const SearchNearbyPath = "/v1/places:searchNearby"

// FieldMaskHeader carries the response field mask of a Places API (New)
// call; billing follows the fields it names.
const FieldMaskHeader = "X-Goog-FieldMask"

// APIKeyHeader carries the key of a Places API (New) call.
const APIKeyHeader = "X-Goog-Api-Key"

// Places is a fake Places API (New) server answering
// POST /v1/places:searchNearby.
type Places struct{ *core }

// NewPlaces starts a fake Places API (New) server on a loopback port.
func NewPlaces(opts Options) *Places {
	p := &Places{}
	p.core = newCore(opts, p.handle)
	return p
}

// placeFields are the Place fields of the Places API (New) that a field
// mask may name. A mask naming anything else is rejected, as Google does,
// so a typo in a provider's mask fails in tests rather than in production.
var placeFields = map[string]bool{
	"accessibilityOptions": true, "addressComponents": true, "adrFormatAddress": true,
	"businessStatus": true, "currentOpeningHours": true, "displayName": true,
	"editorialSummary": true, "formattedAddress": true, "googleMapsUri": true,
	"iconBackgroundColor": true, "iconMaskBaseUri": true, "id": true,
	"internationalPhoneNumber": true, "location": true, "name": true,
	"nationalPhoneNumber": true, "photos": true, "plusCode": true, "priceLevel": true,
	"primaryType": true, "primaryTypeDisplayName": true, "rating": true,
	"regularOpeningHours": true, "reviews": true, "shortFormattedAddress": true,
	"types": true, "userRatingCount": true, "utcOffsetMinutes": true,
	"viewport": true, "websiteUri": true,
}

// priceLevels are the PriceLevel enum names by classic price_level.
var priceLevels = [...]string{
	"PRICE_LEVEL_FREE", "PRICE_LEVEL_INEXPENSIVE", "PRICE_LEVEL_MODERATE",
	"PRICE_LEVEL_EXPENSIVE", "PRICE_LEVEL_VERY_EXPENSIVE",
}

type latLngJSON struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// searchNearbyRequest is the request body, with the fields Google defines
// (so that DisallowUnknownFields rejects what Google rejects).
type searchNearbyRequest struct {
	IncludedTypes        []string `json:"includedTypes"`
	ExcludedTypes        []string `json:"excludedTypes"`
	IncludedPrimaryTypes []string `json:"includedPrimaryTypes"`
	ExcludedPrimaryTypes []string `json:"excludedPrimaryTypes"`
	LanguageCode         string   `json:"languageCode"`
	RegionCode           string   `json:"regionCode"`
	RankPreference       string   `json:"rankPreference"`
	MaxResultCount       *int     `json:"maxResultCount"`
	LocationRestriction  *struct {
		Circle *struct {
			Center *latLngJSON `json:"center"`
			Radius *float64    `json:"radius"`
		} `json:"circle"`
	} `json:"locationRestriction"`
}

func (p *Places) handle(w http.ResponseWriter, r *http.Request, body []byte, o Outcome) {
	switch o {
	case ZeroResults:
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	case OverQueryLimit:
		googleError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
			"Quota exceeded for quota metric 'SearchNearby requests' and limit 'SearchNearby requests per minute' of service 'places.googleapis.com' for consumer 'project_number:000000000000'.",
			"RATE_LIMIT_EXCEEDED")
		return
	case RequestDenied:
		googleError(w, http.StatusForbidden, "PERMISSION_DENIED",
			"Places API (New) has not been used in project 000000000000 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/places.googleapis.com/overview?project=000000000000 then retry.",
			"SERVICE_DISABLED")
		return
	case InvalidRequest:
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Request contains an invalid argument.", "")
		return
	case UnknownError:
		googleError(w, http.StatusInternalServerError, "INTERNAL", "Internal error encountered.", "")
		return
	case Unavailable:
		googleError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The service is currently unavailable.", "")
		return
	case Garbage:
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"places": [{"id": "ChIJtrunc`))
		return
	}
	p.serve(w, r, body)
}

// serve validates the call as Google does and answers with places.
func (p *Places) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.URL.Path != SearchNearbyPath || r.Method != http.MethodPost {
		googleError(w, http.StatusNotFound, "NOT_FOUND", "Method not found.", "")
		return
	}
	switch key := r.Header.Get(APIKeyHeader); {
	case key == "":
		googleError(w, http.StatusForbidden, "PERMISSION_DENIED",
			"The request is missing a valid API key.", "")
		return
	case key != p.opts.APIKey:
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT",
			"API key not valid. Please pass a valid API key.", "API_KEY_INVALID")
		return
	}
	mask := r.Header.Get(FieldMaskHeader)
	if mask == "" {
		mask = r.URL.Query().Get("fields")
	}
	if mask == "" {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT",
			"FieldMask is a required parameter. See https://cloud.google.com/apis/docs/system-parameters on how to provide it. As an example, you can set the header 'X-Goog-FieldMask' to value 'places.displayName', 'places.id' to ask for the display name and the place id of a place. You can also set the value to '*' in manual testing to get all the available response fields.", "")
		return
	}
	fields, err := parseMask(mask)
	if err != nil {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error(), "")
		return
	}
	req, msg := decodeSearchNearby(body)
	if msg != "" {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", msg, "")
		return
	}
	c := req.LocationRestriction.Circle
	n := 20
	if req.MaxResultCount != nil {
		n = *req.MaxResultCount
	}
	found := search(p.opts.Places, p.opts.Seed, c.Center.Latitude, c.Center.Longitude, *c.Radius, n)
	if len(found) == 0 {
		// Google answers an empty search with an empty object.
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	out := make([]map[string]any, 0, len(found))
	for _, pl := range found {
		out = append(out, newPlaceJSON(pl, fields))
	}
	writeJSON(w, http.StatusOK, map[string]any{"places": out})
}

// parseMask returns the Place fields a mask selects; nil means all.
func parseMask(mask string) (map[string]bool, error) {
	fields := map[string]bool{}
	for _, path := range strings.Split(mask, ",") {
		path = strings.TrimSpace(path)
		if path == "*" || path == "places" || path == "places.*" {
			return nil, nil
		}
		top, _, _ := strings.Cut(strings.TrimPrefix(path, "places."), ".")
		if !strings.HasPrefix(path, "places.") || !placeFields[top] {
			return nil, fmt.Errorf("Error expanding 'fields' parameter. Cannot find matching fields for path '%s'.", path)
		}
		fields[top] = true
	}
	return fields, nil
}

// decodeSearchNearby parses and checks the body; a non-empty string is
// the INVALID_ARGUMENT message.
func decodeSearchNearby(body []byte) (searchNearbyRequest, string) {
	var req searchNearbyRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return req, fmt.Sprintf("Invalid JSON payload received. Unknown name %s: Cannot find field.", name)
		}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return req, fmt.Sprintf("Invalid value at '%s' (%s), %s", typeErr.Field, typeErr.Type, typeErr.Value)
		}
		return req, "Invalid JSON payload received. Unexpected token."
	}
	lr := req.LocationRestriction
	if lr == nil || lr.Circle == nil || lr.Circle.Center == nil {
		return req, "Location restriction must be specified with a circle."
	}
	c := lr.Circle
	if c.Radius == nil || *c.Radius <= 0 || *c.Radius > 50000 {
		return req, "Invalid radius. The radius must be greater than 0.0 and at most 50000.0."
	}
	if lat, lng := c.Center.Latitude, c.Center.Longitude; lat < -90 || lat > 90 || lng < -180 || lng > 180 {
		return req, "Invalid location. Latitude must be in [-90, 90] and longitude in [-180, 180]."
	}
	if m := req.MaxResultCount; m != nil && (*m < 1 || *m > 20) {
		return req, fmt.Sprintf("Invalid max_result_count: %d. It must be between 1 and 20, inclusively.", *m)
	}
	return req, ""
}

// newPlaceJSON renders a place in Places API (New) field names, keeping
// only the fields the mask selects (all when fields is nil).
func newPlaceJSON(p Place, fields map[string]bool) map[string]any {
	swLat, swLng, neLat, neLng := viewport(p)
	global, compound := plusCode(p)
	kind := "establishment"
	if len(p.Types) > 0 {
		kind = p.Types[0]
	}
	all := map[string]any{
		"name":                   "places/" + p.ID,
		"id":                     p.ID,
		"types":                  p.Types,
		"formattedAddress":       p.Address + ", Fakeland",
		"shortFormattedAddress":  p.Address,
		"location":               latLngJSON{p.Lat, p.Lng},
		"viewport":               map[string]latLngJSON{"low": {swLat, swLng}, "high": {neLat, neLng}},
		"googleMapsUri":          "https://maps.google.com/?cid=" + p.ID,
		"businessStatus":         p.BusinessStatus,
		"displayName":            map[string]string{"text": p.Name, "languageCode": "en"},
		"primaryType":            kind,
		"primaryTypeDisplayName": map[string]string{"text": kind, "languageCode": "en-US"},
		"iconMaskBaseUri":        "https://maps.gstatic.com/mapfiles/place_api/icons/v2/" + kind + "_pinlet",
		"iconBackgroundColor":    "#FF9E67",
		"plusCode":               map[string]string{"globalCode": global, "compoundCode": compound},
		"utcOffsetMinutes":       0,
	}
	if p.Rating > 0 {
		all["rating"] = p.Rating
		all["userRatingCount"] = p.UserRatingCount
	}
	if p.PriceLevel >= 0 && p.PriceLevel < len(priceLevels) {
		all["priceLevel"] = priceLevels[p.PriceLevel]
	}
	if p.BusinessStatus == "" {
		delete(all, "businessStatus")
	}
	if fields == nil {
		return all
	}
	for k := range all {
		if !fields[k] {
			delete(all, k)
		}
	}
	return all
}

// googleError writes Google's JSON error body. reason, when set, adds the
// google.rpc.ErrorInfo detail Google attaches to key and quota errors.
func googleError(w http.ResponseWriter, code int, status, msg, reason string) {
	e := map[string]any{"code": code, "message": msg, "status": status}
	if reason != "" {
		e["details"] = []map[string]any{{
			"@type":    "type.googleapis.com/google.rpc.ErrorInfo",
			"reason":   reason,
			"domain":   "googleapis.com",
			"metadata": map[string]string{"service": "places.googleapis.com"},
		}}
	}
	writeJSON(w, code, map[string]any{"error": e})
}

// writeJSON writes v indented, as Google's front ends do.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "fake: marshal response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Vary", "Origin, X-Origin, Referer")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
