/* /analytics (dashboard/analytics.py): keeps the choropleth's Leaflet map at hand, so the
   page (and its browser test) can centre it on a grid. */
window.gridwatchAnalytics = (function () {
  const self = {map: null};
  self.attach = function (e) { self.map = e.target._map || null; };
  return self;
})();
