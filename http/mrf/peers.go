package mrf

import (
	"net"
	"net/http"
	"time"
)

// peerClient is the client of requests to other nodes of the domain
// (zone leaders, the controller) made while serving a request. No overall
// timeout: each request's context bounds it, and a forwarded archive
// streams for as long as the client sends it.
var peerClient = &http.Client{Transport: &http.Transport{
	Proxy:               nil,
	DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConnsPerHost: 16,
	IdleConnTimeout:     90 * time.Second,
}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
