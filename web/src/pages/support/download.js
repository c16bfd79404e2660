// Downloads a server export (receipt or debate document) with the signed-in user's token:
// a plain link cannot carry the bearer header, so the file is fetched and handed to the
// browser as a blob.

import { ApiError, api } from '../../lib/api.js';

function filenameFrom(res, fallback) {
  const disposition = res.headers.get('Content-Disposition') || '';
  const m = /filename="?([^";]+)"?/i.exec(disposition);
  return m ? m[1] : fallback;
}

export async function download(path, fallbackName) {
  const res = await api(path, { raw: true, headers: { Accept: 'text/markdown, text/html, application/json;q=0.9, */*;q=0.8' } });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      message = body.error || message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, message, null);
  }
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filenameFrom(res, fallbackName);
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return a.download;
}
