// Package archtest owns the test that keeps the dependency rules of docs/architecture.md true: the
// domain (internal/market) imports no other package of the module, the offer arithmetic
// (internal/bot/offers) stays pure computation without Redis or Prometheus, the shared platform code
// (internal/platform) knows nothing of the domain or of a binary's packages, the packages of one
// binary (parser, worker, bot) import none of another's, and the shared adapters (pricestore, dmarket,
// message, ...) import no binary's package beyond the one exception the architecture lists. It has no
// production code.
package archtest
