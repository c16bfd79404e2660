// Reading the live debate view's event list (web/src/pages/support/event-list.js) in a
// test: every finished round is a collapsed <details> whose rows are built when it is
// opened, and a streamed reply is one text with its deltas' boundaries in data attributes.

// Opens every round (as a person would) and waits until each has its rows.
export async function expandRounds(page) {
  await page.$$eval('#event-list details.round', (all) => {
    for (const d of all) d.open = true;
  });
  await page.waitForFunction(() => [...document.querySelectorAll('#event-list details.round')].every((d) => d.open && d.querySelector(':scope > ol.round-events')));
}

// Every event the list shows, sorted by seq: {seq, type, agent, content}. Rows and markers
// carry data-seq/type/agent (content: a row's direct .content text, a marker's text); the
// token deltas are cut out of their stream's text with data-token-seqs/-ends, the agent
// being the stream row's. Text in a stream that no delta accounts for is reported as an
// event of type 'unaccounted-text' (so a comparison with the stored events fails).
export async function renderedEvents(page) {
  await expandRounds(page);
  const rows = await page.evaluate(() => {
    const out = [];
    for (const e of document.querySelectorAll('#event-list [data-seq]')) {
      out.push({
        seq: Number(e.dataset.seq),
        type: e.dataset.type,
        agent: e.dataset.agent,
        content: e.matches('li') ? (e.querySelector(':scope > .content')?.textContent ?? null) : e.textContent,
      });
    }
    for (const p of document.querySelectorAll('#event-list .stream-text')) {
      const node = p.childNodes[0];
      const text = node && node.nodeType === Node.TEXT_NODE ? node.data : '';
      const split = (v) => (v ? v.split(' ').map(Number) : []);
      const seqs = split(p.dataset.tokenSeqs);
      const ends = split(p.dataset.tokenEnds);
      const agent = p.closest('li').dataset.agent;
      let from = 0;
      seqs.forEach((seq, i) => {
        out.push({ seq, type: 'token_delta', agent, content: text.slice(from, ends[i]) });
        from = ends[i];
      });
      if (ends.length !== seqs.length || from !== text.length) {
        out.push({ seq: -1, type: 'unaccounted-text', agent, content: text.slice(from) });
      }
    }
    return out;
  });
  return rows.sort((a, b) => a.seq - b.seq);
}
