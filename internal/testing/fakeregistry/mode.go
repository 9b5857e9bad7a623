package fakeregistry

import "time"

// DefaultManifestLimit is the manifest body limit used when Mode.ManifestLimit is 0.
const DefaultManifestLimit int64 = 4 << 20

// Mode holds the behaviour knobs of the fake registry. The zero value is a
// spec-compliant OCI distribution-spec v1.1.1 registry with the Referrers API,
// no authentication, honoured conditional requests and no pagination.
type Mode struct {
	// Referrers selects how GET /v2/<name>/referrers/<digest> answers (zero = working API).
	Referrers ReferrersBehavior
	// NoFilterHeader makes the working API ignore ?artifactType= (returns everything, no OCI-Filters-Applied).
	NoFilterHeader bool
	// SubjectHeaderWithoutAPI sends OCI-Subject on manifest PUT even when the referrers API is off.
	SubjectHeaderWithoutAPI bool
	// TagResolvesToSubject makes GET/HEAD of a missing tag "sha256-<hex>" return manifest "sha256:<hex>" (GitLab).
	TagResolvesToSubject bool
	// PageSize > 0 paginates referrers responses with at most PageSize entries per page and a Link header.
	PageSize int
	// TagsPageSize > 0 pages tags/list answers without ?n= at this size, with a relative Link header.
	TagsPageSize int
	// LinkStyle selects the shape of the referrers pagination Link header (zero = relative URL).
	LinkStyle LinkStyle
	// ETag selects ETag emission and If-Match / If-None-Match handling for manifests (zero = honoured).
	ETag ETagBehavior
	// DeleteDisabled answers every manifest/blob DELETE with 405 and error code UNSUPPORTED.
	DeleteDisabled bool
	// Auth selects the authentication scheme required on /v2/ (zero = none).
	Auth AuthScheme
	// Username is the accepted user name for AuthBasic and for the token endpoint of AuthBearer.
	Username string
	// Password is the accepted password for AuthBasic and for the token endpoint of AuthBearer.
	Password string
	// GrantedActions limits what the token endpoint grants (nil = pull, push, delete); others yield 403 DENIED.
	GrantedActions []string
	// BlobRedirect makes blob GET answer 307 to a second "CDN" server that serves the bytes.
	BlobRedirect bool
	// ManifestLimit is the largest accepted manifest PUT body in bytes (0 = DefaultManifestLimit); larger gives 413.
	ManifestLimit int64
	// LenientManifests accepts pushed manifests whose config/layers/child manifests are not in the repository.
	LenientManifests bool
	// NoChunkedUploads answers every upload PATCH with 405 UNSUPPORTED (a registry that takes only monolithic uploads).
	NoChunkedUploads bool
	// UploadStateParam adds an opaque ?_state= to upload Locations that must be echoed on the next PATCH/PUT.
	UploadStateParam bool
	// WrongDigestOnPush makes manifest PUT return a Docker-Content-Digest that is not the body's digest.
	WrongDigestOnPush bool
	// CorruptBlobs makes blob GET (direct and CDN) return bytes that do not match the digest (same length).
	CorruptBlobs bool
	// CorruptManifests makes manifest GET return bytes that do not match the digest (same length, still JSON).
	CorruptManifests bool
	// HugeBody makes referrers and manifest GET stream more than 8 MiB of JSON without Content-Length.
	HugeBody bool
	// Latency is slept at the start of every request to the registry server (0 = none).
	Latency time.Duration
}

// ReferrersBehavior selects how the referrers endpoint answers.
type ReferrersBehavior int

const (
	// ReferrersAPI is a working Referrers API (the default).
	ReferrersAPI ReferrersBehavior = iota
	// ReferrersNotFoundText answers 404 text/plain "404 page not found\n" (distribution v3 style).
	ReferrersNotFoundText
	// ReferrersNotFoundJSON answers 404 application/json with error code MANIFEST_UNKNOWN.
	ReferrersNotFoundJSON
	// ReferrersNotFoundHTML answers 404 with a text/html page.
	ReferrersNotFoundHTML
	// ReferrersMethodNotAllowed answers 405 with a JSON error UNSUPPORTED.
	ReferrersMethodNotAllowed
	// ReferrersNotAcceptable answers 406 text/plain.
	ReferrersNotAcceptable
	// ReferrersUnauthorizedNoChallenge answers 401 JSON UNAUTHORIZED without WWW-Authenticate.
	ReferrersUnauthorizedNoChallenge
	// ReferrersBadRequestText answers 400 with a non-JSON text/plain body.
	ReferrersBadRequestText
	// ReferrersFalse200 answers 200 application/json with a body that is not an image index.
	ReferrersFalse200
	// ReferrersFalse200HTML answers 200 text/html (a web UI catching every path).
	ReferrersFalse200HTML
	// ReferrersForbidden answers 403 JSON DENIED (a real error, not "unsupported").
	ReferrersForbidden
	// ReferrersTooManyRequests answers 429 JSON TOOMANYREQUESTS with Retry-After: 0 (a real error).
	ReferrersTooManyRequests
	// ReferrersServerError answers 500 JSON UNKNOWN (a real error).
	ReferrersServerError
	// ReferrersNameUnknown answers 404 JSON NAME_UNKNOWN (a real error: repository does not exist).
	ReferrersNameUnknown
)

// String returns the constant's name.
func (b ReferrersBehavior) String() string {
	names := [...]string{
		"ReferrersAPI", "ReferrersNotFoundText", "ReferrersNotFoundJSON", "ReferrersNotFoundHTML",
		"ReferrersMethodNotAllowed", "ReferrersNotAcceptable", "ReferrersUnauthorizedNoChallenge",
		"ReferrersBadRequestText", "ReferrersFalse200", "ReferrersFalse200HTML", "ReferrersForbidden",
		"ReferrersTooManyRequests", "ReferrersServerError", "ReferrersNameUnknown",
	}
	if b >= 0 && int(b) < len(names) {
		return names[b]
	}
	return "ReferrersBehavior(?)"
}

// LinkStyle selects the shape of the referrers pagination Link header.
type LinkStyle int

const (
	// LinkRelative emits `</v2/<name>/referrers/<d>?last=<digest>>; rel="next"` (the default).
	LinkRelative LinkStyle = iota
	// LinkLoop emits, on every page including the last, a next link pointing back to the first page.
	LinkLoop
	// LinkCrossHost emits an absolute next link to http://127.0.0.2:1/... (another host).
	LinkCrossHost
	// LinkAbsoluteSameHost emits an absolute next link http://<request Host>/v2/... to this registry.
	LinkAbsoluteSameHost
)

// ETagBehavior selects ETag emission and conditional manifest PUT handling.
type ETagBehavior int

const (
	// ETagHonoured emits `ETag: "<digest>"` and enforces If-Match / If-None-Match with 412 (the default).
	ETagHonoured ETagBehavior = iota
	// ETagIgnored emits ETag but ignores If-Match / If-None-Match.
	ETagIgnored
	// ETagRejected emits ETag but answers any manifest PUT carrying If-Match/If-None-Match with 400 UNSUPPORTED.
	ETagRejected
	// ETagNone emits no ETag at all and ignores conditional headers.
	ETagNone
)

// AuthScheme selects the authentication required on /v2/.
type AuthScheme int

const (
	// AuthNone requires no authentication (the default).
	AuthNone AuthScheme = iota
	// AuthBasic requires Basic Username:Password; otherwise 401 with `WWW-Authenticate: Basic realm="fake"`.
	AuthBasic
	// AuthBearer requires a token from GET/POST <URL>/token; otherwise 401 with a Bearer challenge.
	AuthBearer
)
