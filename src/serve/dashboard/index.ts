/** The web dashboard (docs/dashboard.md): a buildServer() plugin serving the page that reads the API. */
export { dashboardPlugin, DASHBOARD_PUBLIC_PATHS } from './plugin';
