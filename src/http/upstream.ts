// What went wrong with a request to a backend, from undici's error codes: the
// same classification for the live forward and for shadow requests.
import { CONNECT_ERROR_CODES, type UpstreamFailure } from '../errors.js';

export function classifyUpstreamError(err: unknown): UpstreamFailure {
  const e = err as { code?: unknown; name?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (CONNECT_ERROR_CODES.has(code)) return 'connect';
  // undici's parser errors do not always carry an HPE_ code.
  if (e?.name === 'HTTPParserError' || code.startsWith('HPE_')) return 'protocol';
  switch (code) {
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_HEADERS_OVERFLOW':
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_NOT_SUPPORTED':
      return 'protocol';
    default:
      // ECONNRESET, EPIPE, UND_ERR_SOCKET ("other side closed"), UND_ERR_CLOSED, ...
      return 'reset';
  }
}
