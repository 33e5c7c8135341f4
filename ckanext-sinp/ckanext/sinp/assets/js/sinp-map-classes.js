/* Colour classes of the count maps (the JDD page's cells, the géo-visualiseur's mailles): up to five
 * classes whose upper bounds are quantiles of the counts actually drawn (whole numbers, no repeats), a
 * count's colour in a five-colour palette (few to many), and French number formatting for legends.
 * Loaded before the scripts that use it (same webassets bundle); defines ``window.sinpMapClasses``.
 */
(function (root) {
  "use strict";

  function classes(counts) {
    var sorted = counts.slice().sort(function (a, b) { return a - b; });
    var bounds = [];
    for (var i = 1; i <= 5; i++) {
      var v = sorted[Math.min(sorted.length - 1, Math.ceil(i * sorted.length / 5) - 1)];
      if (!bounds.length || v > bounds[bounds.length - 1]) { bounds.push(v); }
    }
    return bounds;
  }

  // the colour of class ``i`` when there are ``bounds.length`` classes: the darkest end of the palette
  function classColour(palette, bounds, i) {
    return palette[i + palette.length - bounds.length];
  }

  function colour(palette, bounds, n) {
    for (var i = 0; i < bounds.length; i++) { if (n <= bounds[i]) { return classColour(palette, bounds, i); } }
    return palette[palette.length - 1];
  }

  // 12345 → « 12 345 » (narrow no-break space, as French typography wants)
  function fr(n) {
    return String(n === null || n === undefined ? "" : n).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
  }

  // the legend's rows: [{colour, label}] with labels « 1 à 12 », « 13 à 40 »… (a single value alone)
  function legendRows(palette, bounds) {
    var low = 1;
    return bounds.map(function (upper, i) {
      var row = {colour: classColour(palette, bounds, i), label: low === upper ? fr(upper) : fr(low) + " à " + fr(upper)};
      low = upper + 1;
      return row;
    });
  }

  root.sinpMapClasses = {classes: classes, colour: colour, legendRows: legendRows, fr: fr};
})(this);
