// Starts Swagger UI on /api/docs (a file of its own: the portal's Content-Security-Policy allows no inline scripts).
window.addEventListener('DOMContentLoaded', () => {
  const element = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: element.dataset.openapiUrl,
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
});
