// @peculiar/x509 (ours and werift's own copy for DTLS certificates) resolves its ASN.1 schemas through tsyringe,
// which needs the Reflect metadata polyfill before either is evaluated. main.ts imports this first.
import "reflect-metadata";
