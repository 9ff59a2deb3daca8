// k6/html: parseHTML, Selection and Element, and Response.html().
import { parseHTML } from 'k6/html';
import http from 'k6/http';
import { check } from 'k6';

const page = `<html><head><title>Shop</title></head><body>
<div id="main" class="a b" data-id="7" data-opts='{"k":2}'><p>one</p><p class="two">two <b>bold</b></p></div>
<ul><li>a</li><li>b</li><li>c</li></ul>
<a href="/item?id=1#top" id="lnk">item</a>
<form action="/buy" method="POST"><input name="user" value="ann"><select name="size"><option value="s">S</option><option value="m" selected>M</option></select><textarea name="note">hi</textarea><input type="submit" name="go" value="Go"></form>
</body></html>`;

export const options = { iterations: 1, thresholds: { checks: ['rate==1'] } };

export default function () {
  const doc = parseHTML(page);
  check(doc, {
    'find and text': (d) => d.find('title').text() === 'Shop' && d.find('li').text() === 'abc',
    'size, eq, first, last': (d) => d.find('li').size() === 3 && d.find('li').eq(1).text() === 'b' && d.find('li').first().text() + d.find('li').last().text() === 'ac',
    'attr with a default': (d) => d.find('#main').attr('class') === 'a b' && d.find('#main').attr('nope', 'x') === 'x' && d.find('#main').attr('nope') === undefined,
    'html': (d) => d.find('.two').html() === 'two <b>bold</b>',
    'data': (d) => d.find('#main').data('id') === 7 && d.find('#main').data('opts').k === 2,
    'each gives elements': (d) => { const s = []; d.find('li').each((i, el) => s.push(i + el.textContent() + el.nodeName())); return s.join() === '0ali,1bli,2cli'; },
    'map gives selections': (d) => d.find('li').map((i, sel) => sel.text()).join() === 'a,b,c',
    'traversals': (d) => d.find('b').parent().attr('class') === 'two' && d.find('b').closest('div').attr('id') === 'main' && d.find('li').first().next().text() === 'b' && d.find('li').first().siblings().size() === 2,
    'filter, not, is, has': (d) => d.find('p').filter('.two').size() === 1 && d.find('p').not('.two').text() === 'one' && d.find('p.two').is('.two') && d.find('p').has('b').size() === 1,
    'val of controls': (d) => d.find('input[name=user]').val() === 'ann' && d.find('select').val() === 'm' && d.find('textarea').val() === 'hi',
    'serialize': (d) => d.find('form').serialize() === 'note=hi&size=m&user=ann',
    'serializeArray': (d) => JSON.stringify(d.find('form').serializeArray()) === '[{"name":"user","value":"ann"},{"name":"size","value":"m"},{"name":"note","value":"hi"}]',
    'elements': (d) => { const a = d.find('a').get(0); return a.href() === '/item?id=1#top' && a.id() === 'lnk' && a.pathname() === '/item' && a.hash() === '#top' && a.getAttribute('href') === '/item?id=1#top'; },
    'element tree': (d) => { const m = d.find('#main').get(0); return m.childElementCount() === 2 && m.querySelector('b').textContent() === 'bold' && m.querySelectorAll('p').length === 2 && m.classList().join() === 'a,b'; },
    'nothing found': (d) => d.find('.none').size() === 0 && d.find('.none').text() === '' && d.find('.none').get(0) === undefined,
  });
  const res = http.get(`${__ENV.BASE}/page`);
  check(res, {
    'Response.html()': (r) => r.html().find('title').text() === 'Shop',
    'Response.html(selector)': (r) => r.html('li').size() === 3,
  });
}
