// Package e2e owns the tests that build and run the real binaries (parser, worker, bot, dmarket-sim)
// against the real Redis and RabbitMQ on localhost, the in-repo DMarket simulator and the fake Bot API.
// It has no production code; the helpers in this file start and stop processes for the tests.
package e2e
