/** examples/image-processing on the embedded transport: its lines, and the files it leaves on disk. */
import { test } from 'node:test';
import { checkImageProcessingExample } from '../helpers/image-processing-example.ts';

test('the image-processing example validates, stores, makes every derivative in CPU threads and writes the manifest', async () => {
  await checkImageProcessingExample();
});
