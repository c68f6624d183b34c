// toasty preview page: lists the studies of a work directory and shows the selected one as
// the foreground of the real WWT engine (window.wwtlib), loaded from the server's WTML.
// Plain browser script, no bundler. For tests it exposes window.previewReady,
// window.selectImage(id[, area]) and window.previewGoto(raHours, decDeg, zoom).
(() => {
  var state = { images: { todo: [], done: [] }, tab: 'todo', selected: null, script: null, opacity: 100 };
  var $ = (id) => document.getElementById(id);

  function fmt(n, digits) {
    return Number(n).toFixed(digits);
  }

  function sexagesimal(value, hours) {
    var sign = value < 0 ? '-' : hours ? '' : '+';
    var v = Math.abs(value);
    var a = Math.floor(v);
    var m = Math.floor((v - a) * 60);
    var s = ((v - a) * 60 - m) * 60;
    return sign + a + (hours ? 'h ' : '° ') + m + (hours ? 'm ' : "' ") + fmt(s, 1) + (hours ? 's' : '"');
  }

  // Degrees per image pixel: a tiled study's BaseDegreesPerTile spans the whole level-0
  // tile (256 * 2^levels pixels); for a single image it is the pixel scale itself.
  function pixelScale(img) {
    return img.kind === 'single' ? img.baseDegreesPerTile : img.baseDegreesPerTile / (256 * 2 ** img.tileLevels);
  }

  function setStatus(text) {
    $('status').textContent = text;
  }

  function renderList() {
    var list = $('list');
    var items = state.images[state.tab];
    list.textContent = '';
    $('count-todo').textContent = `(${state.images.todo.length})`;
    $('count-done').textContent = `(${state.images.done.length})`;
    $('tab-todo').setAttribute('aria-selected', String(state.tab === 'todo'));
    $('tab-done').setAttribute('aria-selected', String(state.tab === 'done'));
    var empty = $('empty');
    if (items.length === 0) {
      empty.hidden = false;
      empty.textContent =
        state.tab === 'todo'
          ? 'Nothing is waiting for review: out_todo is empty. Run `toasty pipeline-process-todos` to add images, or look at the published ones.'
          : 'Nothing has been published from this work directory yet (out_done is empty).';
      return;
    }
    empty.hidden = true;
    items.forEach((img) => {
      var li = document.createElement('li');
      li.dataset.id = img.id;
      if (img.error) li.className = 'broken';
      if (img.rejected) li.classList.add('rejected');
      if (state.selected && state.selected.id === img.id && state.selected.area === img.area) li.classList.add('selected');
      var thumb = document.createElement('img');
      thumb.alt = '';
      if (img.thumbUrl) thumb.src = img.thumbUrl;
      var text = document.createElement('div');
      var title = document.createElement('div');
      title.textContent = img.title;
      var id = document.createElement('div');
      id.className = 'id';
      id.textContent = img.id + (img.error ? ` — ${img.error}` : '') + (img.rejected ? ` — ${rejectedText(img)}` : '');
      text.appendChild(title);
      text.appendChild(id);
      li.appendChild(thumb);
      li.appendChild(text);
      li.addEventListener('click', () => {
        window.selectImage(img.id, img.area).catch((e) => {
          setStatus(`Error: ${e.message}`);
        });
      });
      list.appendChild(li);
    });
  }

  function rejectedText(img) {
    return img.rejected.reason ? `rejected: ${img.rejected.reason}` : 'rejected';
  }

  // The file's own size; the record's too when it describes another (often the original's).
  function sizeText(img) {
    var size = img.width ? `${img.width} × ${img.height} px` : 'unknown';
    if (img.recordWidth && (img.recordWidth !== img.width || img.recordHeight !== img.height)) {
      size += ` (the record says ${img.recordWidth} × ${img.recordHeight})`;
    }
    return size;
  }

  // A code line with a copy button.
  function commandBlock(label, text) {
    var div = document.createElement('div');
    div.className = 'command';
    var caption = document.createElement('div');
    caption.textContent = label;
    var code = document.createElement('code');
    code.textContent = text;
    var copy = document.createElement('button');
    copy.type = 'button';
    copy.textContent = 'copy';
    copy.addEventListener('click', () => {
      navigator.clipboard.writeText(text).then(
        () => {
          copy.textContent = 'copied';
        },
        () => {
          copy.textContent = 'select and copy by hand';
        },
      );
    });
    caption.appendChild(copy);
    div.appendChild(caption);
    div.appendChild(code);
    return div;
  }

  function showCommands(img) {
    var box = $('commands');
    box.textContent = '';
    if (img.undoCommand) box.appendChild(commandBlock('Take the rejection back:', img.undoCommand));
    if (!img.rejectCommand) return;
    box.appendChild(commandBlock('Reject it (write the reason):', img.rejectCommand));
    if (state.images.publishCommand) box.appendChild(commandBlock('Publish everything waiting:', state.images.publishCommand));
  }

  // Nothing selected: no details, commands or foreground of an image shown before.
  function clearSelection() {
    state.selected = null;
    $('details').hidden = true;
    ['d-title', 'd-id', 'd-size', 'd-kind', 'd-centre', 'd-constellation', 'd-rotation', 'd-scale', 'status', 'commands'].forEach((id) => {
      $(id).textContent = '';
    });
    if (state.script) wwtlib.WWTControl.singleton.renderContext.set_foregroundImageset(null);
  }

  function showDetails(img) {
    $('details').hidden = false;
    showCommands(img);
    $('d-title').textContent = img.title;
    $('d-id').textContent =
      img.id + (img.area === 'out_done' ? ' (published)' : ' (waiting)') + (img.rejected ? ` — ${rejectedText(img)}; not to be published` : '');
    $('d-size').textContent = sizeText(img);
    $('d-kind').textContent = img.kind === 'single' ? `single image (${img.projection})` : `${img.tileLevels} tile levels (${img.projection})`;
    $('d-centre').textContent = `RA ${sexagesimal(img.ra, true)}, Dec ${sexagesimal(img.dec, false)} (${fmt(img.ra * 15, 5)}°, ${fmt(img.dec, 5)}°)`;
    $('d-constellation').textContent = '…'; // filled in from the WTML once it is loaded
    $('d-rotation').textContent = `${fmt(img.rotation, 3)}°${img.bottomsUp ? ', bottoms up' : ''}`;
    $('d-scale').textContent = `${fmt(pixelScale(img) * 3600, 4)}″/px`;
  }

  // The equatorial grid and the constellation boundaries, to judge where the image sits; off,
  // the image is seen unobstructed. No text: the engine draws it from a glyph atlas it would
  // download (the sidebar gives the centre and constellation instead).
  function showOverlays(on) {
    var settings = state.script.settings;
    settings.set_showGrid(on);
    settings.set_showConstellationBoundries(on);
  }

  function loadFolder(url) {
    return new Promise((resolve, reject) => {
      var timer = setTimeout(() => {
        reject(new Error(`timed out loading ${url}`));
      }, 20000);
      // Folder.loadFromUrl parses the document into this very folder (Wtml.getWtmlFile
      // would wrap it in a proxy folder).
      var folder = new wwtlib.Folder();
      folder.loadFromUrlWithErrorCallback(
        url,
        () => {
          clearTimeout(timer);
          resolve(folder);
        },
        () => {
          clearTimeout(timer);
          reject(new Error(`could not load ${url}`));
        },
      );
    });
  }

  // Resolves once the tile queue has stayed empty for a while (the engine renders
  // continuously; there is no "done" event), or after `maxMs` regardless.
  function settle(minMs, maxMs) {
    var start = performance.now();
    var quiet = 0;
    return new Promise((resolve) => {
      (function poll() {
        var elapsed = performance.now() - start;
        quiet = wwtlib.TileCache.get_queueCount() === 0 ? quiet + 1 : 0;
        if ((elapsed >= minMs && quiet >= 10) || elapsed >= maxMs) return resolve(elapsed);
        setTimeout(poll, 100);
      })();
    });
  }

  window.selectImage = (id, area) => {
    var pool = state.images.todo.concat(state.images.done);
    var img = pool.filter((i) => i.id === id && (!area || i.area === area))[0];
    if (!img) return Promise.reject(new Error(`no image ${id}`));
    if (img.error) return Promise.reject(new Error(`${img.id}: ${img.error}`));
    state.selected = img;
    renderList();
    showDetails(img);
    setStatus('Loading…');
    return loadFolder(img.wtmlUrl)
      .then((folder) => {
        // Another image (or none) was chosen meanwhile: leave the view to it.
        if (state.selected !== img) return img;
        var place = (folder.get_places() || [])[0];
        var imageset = place?.get_studyImageset();
        if (!imageset) throw new Error(`the WTML of ${img.id} has no foreground image set`);
        // As the engine read it from the Place: what WWT clients will group and search by.
        $('d-constellation').textContent = place.get_constellation() || 'none';
        var ctl = wwtlib.WWTControl.singleton;
        ctl.renderContext.set_foregroundImageset(imageset);
        state.script.setForegroundOpacity(state.opacity);
        ctl.gotoRADecZoom(img.ra, img.dec, img.zoomLevel, true);
        return settle(1500, 20000);
      })
      .then(() => {
        if (state.selected === img) setStatus('');
        return img;
      });
  };

  window.previewGoto = (raHours, decDeg, zoom) => {
    wwtlib.WWTControl.singleton.gotoRADecZoom(raHours, decDeg, zoom, true);
    return settle(1000, 20000);
  };

  function loadList() {
    return fetch('/api/images')
      .then((r) => {
        if (!r.ok) throw new Error(`image list: HTTP ${r.status}`);
        return r.json();
      })
      .then((images) => {
        state.images = images;
        if (images.todo.length === 0 && images.done.length > 0) state.tab = 'done';
        renderList();
      });
  }

  function start() {
    ['tab-todo', 'tab-done'].forEach((tabId) => {
      $(tabId).addEventListener('click', (e) => {
        var tab = e.currentTarget.dataset.area;
        if (tab !== state.tab) clearSelection();
        state.tab = tab;
        renderList();
      });
    });
    $('overlays').addEventListener('change', (e) => {
      if (state.script) showOverlays(e.target.checked);
    });
    $('opacity').addEventListener('input', (e) => {
      state.opacity = Number(e.target.value);
      if (state.script) state.script.setForegroundOpacity(state.opacity);
    });
    // Freestanding: never fetch the WWT catalogue or assets from the internet.
    wwtlib.WWTControl.singleton.freestandingMode = true;
    var builder = new wwtlib.WWTControlBuilder('wwt');
    builder.startRenderLoop(true);
    builder.freestandingMode(`${location.origin}/engine-assets`);
    var ready = new Promise((resolve) => {
      state.script = builder.create();
      state.script.add_ready(() => {
        var settings = state.script.settings;
        // The reticle would hide the very pixels a reviewer checks first.
        settings.set_showCrosshairs(false);
        // No figure data is served (the boundaries come from the server's IAU table).
        settings.set_showConstellationFigures(false);
        settings.set_showEquatorialGridText(false);
        settings.set_showConstellationLabels(false);
        // Every boundary, the one at the view centre highlighted.
        settings.set_showConstellationSelection(false);
        showOverlays($('overlays').checked);
        resolve();
      });
    });
    Promise.all([ready, loadList()])
      .then(() => {
        window.previewReady = true;
      })
      .catch((e) => {
        $('empty').hidden = false;
        $('empty').textContent = `Error: ${e.message}`;
        window.previewError = e.message;
      });
  }

  start();
})();
