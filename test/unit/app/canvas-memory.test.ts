/** The canvas scenarios on the embedded memory:// transport. */
import { canvasScenarios } from '../../helpers/canvas-scenarios.ts';

process.env.CELERIAC_BROKER_URL = 'memory://';
process.env.CANVAS_APP = 'canvas-mem';
const fixture = await import('../../fixtures/canvas-tasks.ts');

canvasScenarios(() => fixture);
