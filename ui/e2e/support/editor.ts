// Typing into the CodeMirror editor as a person would: select all, then
// insert the new text.
import type { Page } from '@playwright/test';

export async function replaceEditorText(page: Page, text: string): Promise<void> {
  const content = page.locator('.cm-content').first();
  await content.click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}
