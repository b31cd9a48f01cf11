package web

// The methods hairpin sends or serves.
const (
	MethodGet    = "GET"
	MethodHead   = "HEAD"
	MethodPost   = "POST"
	MethodPut    = "PUT"
	MethodPatch  = "PATCH"
	MethodDelete = "DELETE"
)

// Status codes, as net/http names them. Only the ones hairpin's code names are here; any code is still
// read and written.
const (
	StatusContinue                    = 100
	StatusSwitchingProtocols          = 101
	StatusOK                          = 200
	StatusCreated                     = 201
	StatusAccepted                    = 202
	StatusNoContent                   = 204
	StatusMovedPermanently            = 301
	StatusFound                       = 302
	StatusNotModified                 = 304
	StatusBadRequest                  = 400
	StatusUnauthorized                = 401
	StatusForbidden                   = 403
	StatusNotFound                    = 404
	StatusMethodNotAllowed            = 405
	StatusRequestTimeout              = 408
	StatusConflict                    = 409
	StatusLengthRequired              = 411
	StatusPreconditionFailed          = 412
	StatusRequestEntityTooLarge       = 413
	StatusUnsupportedMediaType        = 415
	StatusExpectationFailed           = 417
	StatusUnprocessableEntity         = 422
	StatusTooManyRequests             = 429
	StatusRequestHeaderFieldsTooLarge = 431
	StatusInternalServerError         = 500
	StatusNotImplemented              = 501
	StatusBadGateway                  = 502
	StatusServiceUnavailable          = 503
	StatusGatewayTimeout              = 504
	StatusHTTPVersionNotSupported     = 505
)

var statusText = map[int]string{
	StatusContinue:                    "Continue",
	StatusSwitchingProtocols:          "Switching Protocols",
	StatusOK:                          "OK",
	StatusCreated:                     "Created",
	StatusAccepted:                    "Accepted",
	StatusNoContent:                   "No Content",
	StatusMovedPermanently:            "Moved Permanently",
	StatusFound:                       "Found",
	StatusNotModified:                 "Not Modified",
	StatusBadRequest:                  "Bad Request",
	StatusUnauthorized:                "Unauthorized",
	StatusForbidden:                   "Forbidden",
	StatusNotFound:                    "Not Found",
	StatusMethodNotAllowed:            "Method Not Allowed",
	StatusRequestTimeout:              "Request Timeout",
	StatusConflict:                    "Conflict",
	StatusLengthRequired:              "Length Required",
	StatusPreconditionFailed:          "Precondition Failed",
	StatusRequestEntityTooLarge:       "Request Entity Too Large",
	StatusUnsupportedMediaType:        "Unsupported Media Type",
	StatusExpectationFailed:           "Expectation Failed",
	StatusUnprocessableEntity:         "Unprocessable Entity",
	StatusTooManyRequests:             "Too Many Requests",
	StatusRequestHeaderFieldsTooLarge: "Request Header Fields Too Large",
	StatusInternalServerError:         "Internal Server Error",
	StatusNotImplemented:              "Not Implemented",
	StatusBadGateway:                  "Bad Gateway",
	StatusServiceUnavailable:          "Service Unavailable",
	StatusGatewayTimeout:              "Gateway Timeout",
	StatusHTTPVersionNotSupported:     "HTTP Version Not Supported",
}

// StatusText is the reason phrase of code, or "" for a code hairpin does not name.
func StatusText(code int) string { return statusText[code] }
