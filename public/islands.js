// Drydock's pages are rendered by the server; the parts that react to the
// reader are islands (<leptos-island>), hydrated by the site's wasm. A page
// without islands downloads no wasm at all.
const islands = [...document.querySelectorAll('leptos-island')]
  .filter((el) => !el.parentElement.closest('leptos-island'));
try {
  if (islands.length > 0) {
    const site = await import('/pkg/drydock.js');
    // A failed download is tried again twice (a dropped connection or a
    // server restarting should not leave the page inert).
    for (let attempt = 1; ; attempt += 1) {
      try {
        await site.default({ module_or_path: '/pkg/drydock.wasm' });
        break;
      } catch (error) {
        if (attempt === 3) throw error;
        console.warn(`drydock: loading the page's code failed (${error}); trying again`);
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
    site.hydrate();
    for (const el of islands) {
      const hydrate = site[el.dataset.component];
      if (hydrate) {
        hydrate(el);
      } else {
        console.warn(`drydock: no code for the island ${el.dataset.component}`);
      }
    }
  }
  // Tests (and styles) can tell when every island is live.
  document.body.dataset.hydrated = 'true';
} catch (error) {
  // The page still reads; its forms fall back to plain posts.
  console.error('drydock: the interactive parts of this page did not start', error);
  document.body.dataset.hydrated = `failed: ${error}`;
}
