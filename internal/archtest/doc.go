// Package archtest owns the test that keeps the dependency rules of docs/architecture.md true: the
// domain (internal/market) imports no other package of the module, the offer arithmetic
// (internal/bot/offers) stays pure computation without Redis or Prometheus, the shared platform code
// (internal/platform) knows nothing of the domain or of a binary's packages, and the packages of one
// binary (parser, worker, bot) import none of another's. It has no production code.
package archtest
