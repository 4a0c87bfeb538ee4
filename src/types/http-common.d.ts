/** Node's built-in `_http_common` (the llhttp binding node's own http uses); only what VeloFlux reads. */
declare module '_http_common' {
  export const HTTPParser: {
    new (): object;
    readonly RESPONSE: number;
    readonly kLenientNone: number;
    readonly kOnHeaders: number;
    readonly kOnHeadersComplete: number;
    readonly kOnBody: number;
    readonly kOnMessageComplete: number;
  };
}
